/**
 * Runs async sections one at a time, in call order: `serial(fn)` starts `fn` once every earlier
 * section has settled. A key's transaction sender (server/src/sender/) runs "pick the nonce, sign,
 * record, broadcast" and its following in one, so they never interleave and two transactions never
 * get the same nonce; two senders of one key in one process share it.
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
