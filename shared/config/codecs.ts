/**
 * Small io-ts combinators for configs and events that must be strict and explain themselves:
 *
 * - `struct` decodes an object with known fields and reports every other field as
 *   `path: unknown field` (io-ts's `t.exact`/`t.strict` would silently strip them);
 * - `withDefault` fills a missing field, `optional` leaves it out;
 * - `tagged` picks the member of a discriminated union by its tag, so that errors come from that
 *   member only (a plain `t.union` reports every member's failures);
 * - `constrained` numbers and `list`s name their constraint ("a positive integer");
 * - `report` renders io-ts errors as `path: expected …, got …` lines, paths written as in
 *   JavaScript (`methods.vib.k[2]`).
 */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** A decoder from unknown input; encoding is the identity (configs are written back as decoded). */
export type Codec<A> = t.Type<A, unknown, unknown>

/** Codecs that accept a missing value (`withDefault`, `optional`). */
const MAY_BE_MISSING = new WeakSet<t.Decoder<unknown, unknown>>()

// -------------------------------------------------------------------------------------
// primitives
// -------------------------------------------------------------------------------------

/** One validation error with its own message. */
const error = (value: unknown, context: t.Context, message: string): t.ValidationError => ({ value, context, message })

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === 'object' && u !== null && !Array.isArray(u)

/** A number satisfying `ok`, named by `expected` (e.g. "a positive number"). */
export const constrained = (expected: string, ok: (x: number) => boolean): Codec<number> =>
  new t.Type<number, unknown, unknown>(
    expected,
    (u): u is number => typeof u === 'number' && ok(u),
    (u, c) => (typeof u === 'number' && ok(u) ? t.success(u) : t.failure(u, c)),
    t.identity,
  )

export const finiteNumber = constrained('a finite number', Number.isFinite)
export const positiveNumber = constrained('a positive number', (x) => Number.isFinite(x) && x > 0)
export const nonNegativeNumber = constrained('a non-negative number', (x) => Number.isFinite(x) && x >= 0)
export const unitNumber = constrained('a number in [0, 1]', (x) => x >= 0 && x <= 1)
export const positiveInteger = constrained('a positive integer', (x) => Number.isSafeInteger(x) && x >= 1)
export const nonNegativeInteger = constrained('a non-negative integer', (x) => Number.isSafeInteger(x) && x >= 0)

/** A non-empty string. */
export const nonEmptyString = new t.Type<string, unknown, unknown>(
  'a non-empty string',
  (u): u is string => typeof u === 'string' && u.length > 0,
  (u, c) => (typeof u === 'string' && u.length > 0 ? t.success(u) : t.failure(u, c)),
  t.identity,
)

/** A string matching `re`, named by `expected`. */
export const matching = (expected: string, re: RegExp): Codec<string> =>
  new t.Type<string, unknown, unknown>(
    expected,
    (u): u is string => typeof u === 'string' && re.test(u),
    (u, c) => (typeof u === 'string' && re.test(u) ? t.success(u) : t.failure(u, c)),
    t.identity,
  )

/** One of a few string literals. */
export const oneOf = <L extends string>(values: readonly L[]): Codec<L> => {
  const is = (u: unknown): u is L => typeof u === 'string' && (values as readonly string[]).includes(u)
  return new t.Type<L, unknown, unknown>(
    `one of ${values.map((v) => `'${v}'`).join(', ')}`,
    is,
    (u, c) => (is(u) ? t.success(u) : t.failure(u, c)),
    t.identity,
  )
}

/** Exactly `value`. */
export const literal = <L extends string>(value: L): Codec<L> => oneOf([value])

// -------------------------------------------------------------------------------------
// combinators
// -------------------------------------------------------------------------------------

/** A list of `item`s; optionally non-empty and without repeated values. */
export const list = <A>(
  item: Codec<A>,
  options: { readonly nonEmpty?: boolean; readonly distinct?: boolean } = {},
): Codec<readonly A[]> => {
  const expected = `a${options.nonEmpty ? ' non-empty' : ''} list of ${item.name.replace(/^an? /, '')}s`
  return new t.Type<readonly A[], unknown, unknown>(
    expected,
    (u): u is readonly A[] => Array.isArray(u) && u.every(item.is),
    (u, c) => {
      if (!Array.isArray(u)) return t.failure(u, c)
      if (options.nonEmpty && u.length === 0) return t.failure(u, c, `expected ${expected}, got []`)
      const errors: t.ValidationError[] = []
      const out: A[] = []
      u.forEach((v, i) => {
        const r = item.validate(v, t.appendContext(c, `[${i}]`, item, v))
        if (E.isLeft(r)) errors.push(...r.left)
        else out.push(r.right)
      })
      if (errors.length > 0) return t.failures(errors)
      if (options.distinct) {
        const seen = new Set<string>()
        for (let i = 0; i < out.length; i++) {
          const k = JSON.stringify(out[i])
          if (seen.has(k))
            errors.push(error(u[i], t.appendContext(c, `[${i}]`, item, u[i]), `${k} is repeated`))
          seen.add(k)
        }
        if (errors.length > 0) return t.failures(errors)
      }
      return t.success(out)
    },
    t.identity,
  )
}

/** `codec`, or `value` when the field is missing. */
export const withDefault = <A>(codec: Codec<A>, value: A): Codec<A> => {
  const d = new t.Type<A, unknown, unknown>(
    codec.name,
    codec.is,
    (u, c) => (u === undefined ? t.success(value) : codec.validate(u, c)),
    t.identity,
  )
  MAY_BE_MISSING.add(d as t.Decoder<unknown, unknown>)
  return d
}

/** `codec`; a missing field decodes as `{}` does, so that an absent section gets every default. */
export const defaultSection = <A>(codec: Codec<A>): Codec<A> => {
  const d = new t.Type<A, unknown, unknown>(
    codec.name,
    codec.is,
    (u, c) => codec.validate(u === undefined ? {} : u, c),
    t.identity,
  )
  MAY_BE_MISSING.add(d as t.Decoder<unknown, unknown>)
  return d
}

/** `codec`, or nothing when the field is missing (the decoded object then lacks the key). */
export const optional = <A>(codec: Codec<A>): Codec<A | undefined> => {
  const d = new t.Type<A | undefined, unknown, unknown>(
    codec.name,
    (u): u is A | undefined => u === undefined || codec.is(u),
    (u, c) => (u === undefined ? t.success(undefined) : codec.validate(u, c)),
    t.identity,
  )
  MAY_BE_MISSING.add(d as t.Decoder<unknown, unknown>)
  return d
}

/** `codec`, its result passed through `f` (e.g. to fill defaults that depend on other fields). */
export const map = <A, B>(codec: Codec<A>, f: (a: A) => B): Codec<B> =>
  new t.Type<B, unknown, unknown>(
    codec.name,
    // No guard for B exists without decoding; these codecs are only ever used to decode.
    (_u): _u is B => false,
    (u, c) => E.map(f)(codec.validate(u, c)),
    t.identity,
  )

// Codecs are invariant in their type, so only `any` admits every field codec.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCodec = t.Type<any, unknown, unknown>
type Props = Record<string, AnyCodec>
type OptionalKeys<P extends Props> = { [K in keyof P]: undefined extends t.TypeOf<P[K]> ? K : never }[keyof P]
type Flat<T> = { [K in keyof T]: T[K] }
/** The decoded object: fields whose codec may yield `undefined` are optional keys. */
type Decoded<P extends Props> = Flat<
  { readonly [K in Exclude<keyof P, OptionalKeys<P>>]: t.TypeOf<P[K]> } & {
    readonly [K in OptionalKeys<P>]?: Exclude<t.TypeOf<P[K]>, undefined>
  }
>

/**
 * An object with exactly the fields of `props`: each is decoded by its codec (a missing field is
 * `undefined`, which only `withDefault`/`optional` accept); any other field is an error
 * "unknown field". Fields decoded to `undefined` are left out of the result.
 */
export const struct = <P extends Props>(name: string, props: P): Codec<Decoded<P>> =>
  new t.Type<Decoded<P>, unknown, unknown>(
    name,
    (u): u is Decoded<P> => isRecord(u) && Object.keys(props).every((k) => props[k].is(u[k])),
    (u, c) => {
      if (!isRecord(u)) return t.failure(u, c)
      const errors: t.ValidationError[] = []
      const out: Record<string, unknown> = {}
      for (const key of Object.keys(u))
        if (!Object.prototype.hasOwnProperty.call(props, key))
          errors.push(error(u[key], t.appendContext(c, key, t.unknown, u[key]), 'unknown field'))
      for (const [key, codec] of Object.entries(props)) {
        const v = Object.prototype.hasOwnProperty.call(u, key) ? u[key] : undefined
        const r = codec.validate(v, t.appendContext(c, key, codec, v))
        if (E.isLeft(r)) errors.push(...r.left)
        else if (r.right !== undefined) out[key] = r.right
      }
      return errors.length > 0 ? t.failures(errors) : t.success(out as Decoded<P>)
    },
    t.identity,
  )

/**
 * A discriminated union: the member is chosen by the string field `tag`, then decodes the whole
 * object (so its fields are reported under their own paths).
 */
export const tagged = <K extends string, M extends Record<string, AnyCodec>>(
  tag: K,
  members: M,
): Codec<t.TypeOf<M[keyof M]>> => {
  const tags = Object.keys(members)
  const tagCodec = oneOf(tags)
  return new t.Type<t.TypeOf<M[keyof M]>, unknown, unknown>(
    `an object with ${tag} ${tagCodec.name}`,
    (u): u is t.TypeOf<M[keyof M]> => isRecord(u) && tags.includes(u[tag] as string) && members[u[tag] as string].is(u),
    (u, c) => {
      if (!isRecord(u)) return t.failure(u, c)
      const v = u[tag]
      if (typeof v !== 'string' || !tags.includes(v))
        return t.failure(v, t.appendContext(c, tag, tagCodec, v))
      return members[v].validate(u, c) as t.Validation<t.TypeOf<M[keyof M]>>
    },
    t.identity,
  )
}

// -------------------------------------------------------------------------------------
// reporting
// -------------------------------------------------------------------------------------

/** A value as it appears in an error line: JSON, cut to 60 characters. */
export const show = (u: unknown): string => {
  if (u === undefined) return 'undefined'
  if (typeof u === 'number' && !Number.isFinite(u)) return String(u)
  let s: string
  try {
    s = JSON.stringify(u) ?? String(u)
  } catch {
    s = String(u)
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s
}

/** The JavaScript-style path of a context: `methods.vib.k[2]`; the root is `(root)`. */
export const pathOf = (c: t.Context): string => {
  let p = ''
  for (let i = 1; i < c.length; i++) {
    const key = c[i].key
    // List entries carry their index as `[i]` (see `list`); object fields are joined with '.'.
    p += key.startsWith('[') || p === '' ? key : `.${key}`
  }
  return p === '' ? '(root)' : p
}

/** One line per error: `path: message` or `path: expected <type>, got <value>`. */
export const report = (errors: t.Errors): string[] => {
  const lines = errors.map((e) => {
    const last = e.context[e.context.length - 1]
    const path = pathOf(e.context)
    if (e.message !== undefined) return `${path}: ${e.message}`
    if (e.value === undefined && !MAY_BE_MISSING.has(last.type as t.Decoder<unknown, unknown>))
      return `${path}: missing, expected ${last.type.name}`
    return `${path}: expected ${last.type.name}, got ${show(e.value)}`
  })
  return [...new Set(lines)]
}
