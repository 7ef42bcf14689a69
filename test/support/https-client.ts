// A real HTTPS client for end-to-end tests: trusts only the CA it is given, keeps connections alive like the API server.
import { Agent, request } from 'node:https';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): unknown;
}

export function client(ca: string, port: number, host = '127.0.0.1', servername?: string) {
  const agent = new Agent({ ca, keepAlive: true, maxSockets: 16 });
  const send = (method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<HttpResult> =>
    new Promise((resolve, reject) => {
      const req = request({ host, port, method, path, agent, ca, servername: servername ?? (host === '127.0.0.1' ? undefined : host), headers: body !== undefined && !('content-type' in headers) ? { 'content-type': 'application/json', ...headers } : headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      if (body !== undefined) req.end(body);
      else req.end();
    });
  return {
    agent,
    send,
    post: (path: string, body: unknown, headers: Record<string, string> = {}) => send('POST', path, typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body), headers),
    close: () => agent.destroy(),
  };
}
