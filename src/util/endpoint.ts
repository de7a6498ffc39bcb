/** `host:port` endpoints (`verify`), parsed once for the manifest checks and for the TLS probe. */

/**
 * `host:port`, `[v6]:port`, or `host` (port 443). Returns undefined for anything else (an empty host, a
 * port outside 1–65535, an IPv6 address without brackets and a port).
 */
export function parseEndpoint(endpoint: string): { host: string; port: number } | undefined {
  const bracket = /^\[([^\]]+)\](?::([0-9]+))?$/.exec(endpoint);
  let host: string;
  let port = 443;
  if (bracket) {
    host = bracket[1] as string;
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else {
    const colon = endpoint.lastIndexOf(':');
    if (colon >= 0 && endpoint.indexOf(':') !== colon) return undefined;
    if (colon >= 0) {
      host = endpoint.slice(0, colon);
      const text = endpoint.slice(colon + 1);
      if (!/^[0-9]+$/.test(text)) return undefined;
      port = Number(text);
    } else {
      host = endpoint;
    }
  }
  if (host === '' || /[\s/]/.test(host) || !Number.isInteger(port) || port < 1 || port > 65_535)
    return undefined;
  return { host, port };
}
