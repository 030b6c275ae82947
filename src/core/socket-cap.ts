/**
 * The socket cap, as a pure function. `maxSockets` counts open sockets only: a socket the server closed leaves
 * the tenant's count at once, even when its client never answers the close. The platform keeps such a socket
 * (and counts it against its 32,768 per object) until the client answers or the connection ends, so open plus
 * closing sockets have a cap of their own just below the platform's.
 */

/** Why a connection must be refused at `open` open and `held` open-plus-closing sockets, or null to accept it. */
export function socketCapRefusal(open: number, held: number, maxSockets: number, maxHeld: number): string | null {
  if (open >= maxSockets) return `This tenant has reached its limit of ${maxSockets} open sockets per object.`;
  if (held >= maxHeld) {
    return `This object holds ${held} sockets, closing ones included (the platform's limit is near); retry when closing sockets have gone.`;
  }
  return null;
}
