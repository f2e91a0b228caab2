/**
 * Wraps a port so every call fails once its process is "killed": a crashed controller loses its memory and
 * can no longer reach anything, while the world (the store, the hosts) goes on.
 */
export function killable<T extends object>(target: T, isDead: () => boolean): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value: unknown = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (isDead()) return Promise.reject(new Error('the controller process was killed'));
        return (value as (...a: unknown[]) => unknown).apply(obj, args);
      };
    },
  });
}
