/**
 * A gas counter in the style of Gear's: `charge` answers "enough / not enough" as a boolean and charges
 * nothing when there is not enough, so the caller can leave its operation undone. Out of gas is an expected
 * outcome on the hot path, not an exception.
 */
import { GAS_MAX } from '../constants.js'
import { StrataError, describeValue } from '../errors.js'

export const GasErrorCode = {
  /** A gas limit or amount that is not a safe non-negative integer. */
  INVALID_GAS: 'INVALID_GAS',
} as const
export type GasErrorCode = (typeof GasErrorCode)[keyof typeof GasErrorCode]

export function checkGas(value: unknown, name = 'gas'): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > GAS_MAX) {
    throw new StrataError(
      GasErrorCode.INVALID_GAS,
      `${name} must be a safe integer in 0..${GAS_MAX}, got ${describeValue(value)}`,
      { [name]: value },
    )
  }
  return value
}

export class GasCounter {
  readonly #limit: number
  #used = 0
  #refunded = 0
  #exhausted = false

  constructor(limit: number = GAS_MAX) {
    this.#limit = checkGas(limit, 'gasLimit')
  }

  get limit(): number {
    return this.#limit
  }

  /** Gas consumed so far, net of refunds. */
  get used(): number {
    return this.#used
  }

  get left(): number {
    return this.#limit - this.#used
  }

  /** Total refunded over the counter's life (informational). */
  get refunded(): number {
    return this.#refunded
  }

  /**
   * True once any charge did not fit. Sticky: a program that catches the resulting error cannot carry on as if
   * it had gas; the executor fails the message with OUT_OF_GAS all the same.
   */
  get exhausted(): boolean {
    return this.#exhausted
  }

  /** Charges `amount` if it fits and returns true; otherwise charges nothing and returns false. */
  charge(amount: number): boolean {
    if (amount > this.#limit - this.#used) {
      this.#exhausted = true
      return false
    }
    this.#used += amount
    return true
  }

  /** Consumes everything that is left (out of gas burns the whole limit, as in Gear). */
  burnAll(): void {
    this.#used = this.#limit
  }

  /** Gives back up to `amount` of what was used; a refund never makes `used` negative. Returns what it gave. */
  refund(amount: number): number {
    const given = Math.min(amount, this.#used)
    this.#used -= given
    this.#refunded += given
    return given
  }
}
