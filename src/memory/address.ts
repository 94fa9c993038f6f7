/**
 * Address3D: (region, plane, offset) packed into one safe integer.
 *
 *   bit 39 ......... 32 31 ............ 16 15 ............ 0
 *       [ region: 8   ][ plane: 16        ][ offset: 16     ]
 *
 * address = region * 2^32 + plane * 2^16 + offset. Within one region the low 32 bits are a linear byte
 * position, so a region is a 4 GiB linear space made of 64 KiB planes.
 */
import {
  ADDRESS_LIMIT, PLANES_PER_REGION_MAX, PLANE_SIZE_BYTES, REGION_COUNT_MAX, REGION_SIZE_BYTES,
} from '../constants.js'
import { StrataError, describeValue } from '../errors.js'
import { MemoryErrorCode } from './errors.js'

declare const addressBrand: unique symbol
/** A packed 40-bit address. Build with `address3d`, split with `splitAddress`. */
export type Address3D = number & { readonly [addressBrand]: true }

declare const planeKeyBrand: unique symbol
/** Identifies one plane of a program: region * 2^16 + plane (24 bits). Planes are stored under this key. */
export type PlaneKey = number & { readonly [planeKeyBrand]: true }

export interface Address3DParts {
  readonly region: number
  readonly plane: number
  readonly offset: number
}

function checkPart(name: string, value: unknown, limit: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= limit) {
    throw new StrataError(
      MemoryErrorCode.ADDRESS_OUT_OF_RANGE,
      `${name} must be an integer in 0..${limit - 1}, got ${describeValue(value)}`,
      { [name]: value },
    )
  }
  return value
}

export function address3d(region: number, plane: number, offset: number): Address3D {
  checkPart('region', region, REGION_COUNT_MAX)
  checkPart('plane', plane, PLANES_PER_REGION_MAX)
  checkPart('offset', offset, PLANE_SIZE_BYTES)
  return (region * REGION_SIZE_BYTES + plane * PLANE_SIZE_BYTES + offset) as Address3D
}

/** Checks that a number is a valid packed address and brands it. */
export function toAddress(value: unknown, name = 'address'): Address3D {
  checkPart(name, value, ADDRESS_LIMIT)
  return value as Address3D
}

export function splitAddress(address: number): Address3DParts {
  toAddress(address)
  return {
    region: Math.floor(address / REGION_SIZE_BYTES),
    plane: Math.floor(address / PLANE_SIZE_BYTES) % PLANES_PER_REGION_MAX,
    offset: address % PLANE_SIZE_BYTES,
  }
}

/** The region index of a valid address (no checks: hot path). */
export function regionOf(address: number): number {
  return Math.floor(address / REGION_SIZE_BYTES)
}

/** The key of the plane holding a valid address (no checks: hot path). */
export function planeKeyOf(address: number): PlaneKey {
  return Math.floor(address / PLANE_SIZE_BYTES) as PlaneKey
}

export function planeKey(region: number, plane: number): PlaneKey {
  checkPart('region', region, REGION_COUNT_MAX)
  checkPart('plane', plane, PLANES_PER_REGION_MAX)
  return (region * PLANES_PER_REGION_MAX + plane) as PlaneKey
}

export function splitPlaneKey(key: number): { readonly region: number; readonly plane: number } {
  return { region: Math.floor(key / PLANES_PER_REGION_MAX), plane: key % PLANES_PER_REGION_MAX }
}

/** The address of byte 0 of a plane. */
export function planeBase(key: PlaneKey): Address3D {
  return (key * PLANE_SIZE_BYTES) as Address3D
}

export function formatAddress(address: number): string {
  const { region, plane, offset } = splitAddress(address)
  return `(${region}, ${plane}, ${offset})`
}
