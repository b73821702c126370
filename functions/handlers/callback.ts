// Placeholder, replaced by the real handler in this change.
export const handler = async () => ({ statusCode: 501, body: 'not implemented' });
