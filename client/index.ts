export * from './client.js';
export * from './errors.js';
export { sigV4Signer, type Credentials, type RequestSigner, type SignableRequest } from './sigv4.js';
