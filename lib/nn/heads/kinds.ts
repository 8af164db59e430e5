// The names of the model kinds and what each is, in one light module (no
// kernels behind it): the model configuration checks a kind by it, and help
// texts list it. Each name's head is registered in ./index.ts; the compiler
// refuses a name without one.
export const KIND_DESCRIPTIONS = {
  hgad: 'the hierarchical Gaussian mixture',
  flow: 'the single-Gaussian conditional flow, CFLOW-style, same flows and loop',
} as const;

export type ModelKind = keyof typeof KIND_DESCRIPTIONS;
/** The registered kinds, the default first. */
export const MODEL_KINDS = Object.keys(KIND_DESCRIPTIONS) as readonly ModelKind[];
