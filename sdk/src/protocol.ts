/**
 * The wire protocol of MWS: every REST request and response body, and every WebSocket close code, exactly as the
 * service accepts and sends them. The service and the SDK both import this file, so it and the files of protocol/
 * import nothing but each other and use no DOM or Workers types.
 *
 * Request shapes are the full form the SDK sends and the service's validation returns; where the service also
 * accepts a key left out, the comment says what it counts as. Times are ISO 8601 strings.
 */

export * from './protocol/responses.js';
export * from './protocol/messages.js';
export * from './protocol/sockets.js';
export * from './protocol/configuration.js';
export * from './protocol/webhooks.js';
export * from './protocol/tenants.js';
export * from './protocol/close-codes.js';
export * from './protocol/mws-v2.js';
