// The ESM entry: the same classes as the CommonJS one (one module instance, so `instanceof` holds
// whichever way a file imports the package).
import printcore from './printcore.js'

export const { PrintCore, PrintCoreError, Subscription, ERROR_CODES, redactUri, connectionStringProblem, currentPlatform } = printcore
