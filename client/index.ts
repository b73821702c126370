export * from './client';
export * from './errors';
export { sigV4Signer, type Credentials, type RequestSigner, type SignableRequest } from './sigv4';
