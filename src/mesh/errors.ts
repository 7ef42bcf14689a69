// Failures caused by what the user gave (a file, a flag, a kubeconfig), as opposed to a denial or a bug: the command
// line exits 2 for these, as kubectl and kubeconform do for unusable input.
export class InputError extends Error {
  override readonly name: string = 'InputError';
}
