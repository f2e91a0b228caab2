/**
 * A controller's name in the leases it holds: `<hostname>-<pid>-<8 hex>`. The random part tells apart two runs
 * that got the same pid; the hostname and pid let a controller on the same machine tell a dead holder from a
 * live one (controller/local/deadLeases.ts).
 */
export function holderName(args: { hostname: string; pid: number; nonce: string }): string {
  return `${args.hostname}-${args.pid}-${args.nonce}`;
}

/** The pid in a holder name made on `hostname`, or null when the name was made elsewhere or by hand. */
export function holderPidOn(holder: string, hostname: string): number | null {
  if (!holder.startsWith(`${hostname}-`)) return null;
  const match = /^(\d{1,10})-[0-9a-f]{8}$/.exec(holder.slice(hostname.length + 1));
  if (!match) return null;
  const pid = Number(match[1]);
  return pid > 0 ? pid : null;
}
