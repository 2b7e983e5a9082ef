import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO } from '../support/old-release.js';

type Service = { environment?: Record<string, string>; ports?: string[] };
const deploy = (file: string) => readFileSync(join(REPO, 'deploy', file), 'utf8');
const compose = parse(deploy('compose.yaml'), { merge: true }) as { services: Record<string, Service> };
const replicas = Object.keys(compose.services).filter((name) => /^switchboard-\d+$/.test(name));

/**
 * deploy/'s files name each other's services and ports: a replica added to one and not the others
 * would be unbalanced, unscraped or untraced without any error. (`docker-compose config` in .ci/run
 * checks the compose file's own validity; the load-balancer test runs nginx.conf.)
 */
describe('deploy/: the compose file, nginx, Prometheus and the tracing backend agree', () => {
  it('has three replicas, each configured alike', () => {
    expect(replicas).toEqual(['switchboard-1', 'switchboard-2', 'switchboard-3']);
    const envs = replicas.map((r) => compose.services[r]!.environment);
    for (const env of envs) expect(env).toEqual(envs[0]);
  });

  it('nginx balances over every replica, on the port it listens on', () => {
    const servers = [...deploy('nginx/switchboard-upstreams.conf').matchAll(/^server\s+([^;\s]+);/gm)].map((m) => m[1]);
    expect(servers).toEqual(replicas.map((r) => `${r}:${compose.services[r]!.environment!.PORT}`));
  });

  it('Prometheus scrapes every replica on its metrics port', () => {
    const prometheus = parse(deploy('prometheus.yml')) as { scrape_configs: { static_configs: { targets: string[] }[] }[] };
    const targets = prometheus.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
    expect(targets).toEqual(replicas.map((r) => `${r}:${compose.services[r]!.environment!.METRICS_PORT}`));
    expect(compose.services[replicas[0]!]!.environment!.METRICS_HOST).toBe('0.0.0.0');
    // The metrics port has no authentication: it is never published outside the compose network.
    for (const r of replicas) expect(compose.services[r]!.ports).toBeUndefined();
  });

  it('the replicas send traces to the tracing backend of the compose file, on OTLP/HTTP', () => {
    const endpoint = new URL(compose.services[replicas[0]!]!.environment!.OTEL_EXPORTER_OTLP_ENDPOINT!);
    expect(endpoint.port).toBe('4318');
    expect(compose.services[endpoint.hostname]?.environment).toMatchObject({ COLLECTOR_OTLP_ENABLED: 'true' });
  });

  it('publishes only nginx to the network; the dashboards on loopback', () => {
    const published = Object.entries(compose.services).flatMap(([name, s]) => (s.ports ?? []).map((p) => `${name} ${p}`));
    expect(published.filter((p) => !p.startsWith('nginx ') && !/ 127\.0\.0\.1:/.test(p))).toEqual([]);
  });
});
