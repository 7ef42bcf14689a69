// Failures caused by what the user gave (a file, a flag, a kubeconfig), as opposed to a denial or a bug: the command
// line exits 2 for these, as kubectl and kubeconform do for unusable input.
export class InputError extends Error {
  override readonly name: string = 'InputError';
}

/** An error as one line for logs, Events and denials (its message; anything thrown that is not an Error, as text). */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
