/**
 * Runs async sections one at a time, in call order: `serial(fn)` starts `fn` once every earlier
 * section has settled. One chain's sweeper and token-subscription collector share one per key, so
 * "read the pending nonce, sign, broadcast" never interleaves and two transactions never get the
 * same nonce.
 */
export type Serial = <T>(section: () => Promise<T>) => Promise<T>;

export function createSerial(): Serial {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(section: () => Promise<T>): Promise<T> => {
    const run = tail.then(section, section);
    tail = run.catch(() => undefined);
    return run;
  };
}
