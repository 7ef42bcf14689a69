// One named Secret that certificate code keeps its material in (the serving CA and leaf, the mesh CA), reached
// through this interface so that the rotation rules here never talk to the API server themselves (src/kube/ does,
// and tests can hand in memory). Values of `data` are base64, as in a Secret.

export interface SecretContent {
  readonly type?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly data: Readonly<Record<string, string>>;
}

export interface StoredSecretContent extends SecretContent {
  /** the version read; a write conditioned on it fails when someone else wrote since */
  readonly resourceVersion?: string;
}

export interface SecretSlot {
  /** `<namespace>/<name>`, for messages */
  readonly ref: string;
  /** undefined when the Secret does not exist; other failures throw */
  read(): Promise<StoredSecretContent | undefined>;
  /**
   * Creates the Secret (no resourceVersion) or replaces the version read. false when another writer got there first
   * (it exists already, or it changed or vanished since the read): read again and decide anew.
   */
  write(content: SecretContent, resourceVersion?: string): Promise<boolean>;
}
