// The fixed port numbers and proxy UID shared by the sidecar container, the probe rewriting and the iptables
// init script (the same in OSM, osm-edge and FSM). One table, so every part of the injector agrees.

export const PORTS = {
  /** pipy admin listener (`proxy-admin`) */
  PROXY_ADMIN: 15000,
  /** outbound listener: target of the OUT_REDIRECT chain */
  OUTBOUND: 15001,
  /** inbound listener (`proxy-inbound`): target of the IN_REDIRECT chain */
  INBOUND: 15003,
  /** Prometheus scrape listener (`proxy-metrics`) */
  METRICS: 15010,
  /** rewritten liveness probe */
  LIVENESS: 15901,
  /** rewritten readiness probe */
  READINESS: 15902,
  /** rewritten startup probe */
  STARTUP: 15903,
  /** TCP-probe helper container (`<p>-healthcheck`) */
  HEALTHCHECK: 15904,
  /** UID the sidecar runs as (not a port; kept in this table so all fixed numbers live together) */
  PROXY_UID: 1500,
} as const;

/** UID the sidecar runs as; the iptables owner match uses it to tell proxy traffic from app traffic. */
export const PROXY_UID = PORTS.PROXY_UID;

/** iptables' multiport match takes at most this many ports per rule (XT_MULTI_PORTS). */
export const MULTIPORT_MAX = 15;
