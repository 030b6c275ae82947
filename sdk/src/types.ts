/** The REST shapes of the MWS API; they are defined once, in protocol.ts, which the service imports too. */
export type * from './protocol.js';

import type { ConfigurationView, SocketPage } from './protocol.js';

/** @deprecated Use SocketPage: `GET /v1/sockets` answers one page and a cursor. */
export type SocketList = SocketPage;

/** @deprecated Use ConfigurationView (what `GET /v1/configuration` answers) or ConfigurationUpdate (what `PUT` takes). */
export type Configuration = ConfigurationView;
