/**
 * What is wrong with a request itself, before any domain logic runs: HTTP concerns (the field
 * a 400 names, a body too large), kept out of the domain's errors. Mapped to answers in http.ts.
 */
import { DomainError } from '../domain/errors';

/** The client sent something we reject; `field` names what was wrong. */
export class ValidationError extends DomainError {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export class PayloadTooLargeError extends DomainError {}
