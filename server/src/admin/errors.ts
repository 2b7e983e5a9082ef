/** A refusal or failure of an admin command: one line for the operator, never a stack trace. */
export class AdminError extends Error {
  override readonly name = 'AdminError';
}
