// Types of the ESM entry (printcore.mjs): the same declarations as the CommonJS entry's.
export * from './printcore.js'
