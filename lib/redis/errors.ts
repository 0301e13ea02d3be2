/**
 * What a failed Redis command means for the publisher and the readers: "no answer" (try again later: the
 * connection broke, the node is away, the cluster is down or moving slots) or a refusal (Redis answered
 * with an error about the command itself: OOM, WRONGTYPE, NOGROUP ...; the same command would fail again).
 *
 * A single server's client keeps commands across a reconnect (or fails them with a connection error). A
 * Redis Cluster client can stay ready while the one node serving the stream's slot is gone (the other
 * masters answer MOVED to it, then CLUSTERDOWN once they agree it failed): ioredis retries those a few
 * times (maxRedirections, retryDelayOnClusterDown) and then gives up with "Too many Cluster redirections".
 * All of those are "no answer", so a cluster's partial outage is handled like a lost server.
 */

/** Error replies that mean "not now" rather than "not this command". */
const TRY_AGAIN_REPLY = /^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|BUSY) /;

/** The client's own errors for a command that got no answer. */
const CLIENT_UNAVAILABLE = /Connection is closed|Stream isn't writeable|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|Too many Cluster redirections|Cluster isn't ready|None of startup nodes is available|Failed to refresh slots cache/;

/**
 * True when `message` (a command's error) means Redis did not take the command and it may be sent again.
 * Not MOVED/ASK: a Cluster client follows them itself, so one that reaches us came to a plain client from a
 * cluster node, and sending again would get it again (it is a refusal, reported with movedHint()).
 */
export function isUnanswered(message: string): boolean {
  // Redis error replies start with an upper-case code and a space; anything else is the client's own error.
  if (!/^[A-Z]+ /.test(message)) return true;
  return TRY_AGAIN_REPLY.test(message) || CLIENT_UNAVAILABLE.test(message);
}
