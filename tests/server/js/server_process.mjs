// Starts `ternion serve` on an ephemeral loopback port and waits until /health answers 200.
import { spawn } from 'node:child_process';

export async function startServer(binary, model, extraArgs = []) {
  const args = ['serve', '-m', model, '--host', '127.0.0.1', '--port', '0', ...extraArgs];
  const proc = spawn(binary, args, { stdio: ['ignore', 'inherit', 'pipe'] });
  let stderr = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start: ' + stderr)), 30000);
    proc.stderr.on('data', (d) => {
      stderr += d.toString();
      const m = stderr.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; ++i) {
    const r = await fetch(`${base}/health`).catch(() => null);
    if (r && r.status === 200) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  return {
    base,
    port,
    proc,
    stop: () =>
      new Promise((resolve) => {
        proc.removeAllListeners('exit');
        proc.on('exit', (code) => resolve(code));
        proc.kill('SIGTERM');
      }),
  };
}
