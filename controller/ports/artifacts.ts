/** Where revisions live: is a revision there (used to refuse a deploy of a missing one). */
export interface ArtifactCheck {
  exists: boolean;
  /** where it was looked for, for the error message */
  where: string;
}

export interface Artifacts {
  check(args: { source: string; revision: string }): Promise<ArtifactCheck>;
}
