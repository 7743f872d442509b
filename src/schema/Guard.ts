import { Either, ParseResult, Schema, type SchemaAST } from "effect"

/**
 * Compiles a flat wire-frame struct schema into a plain type check, many times faster than `Schema.is` on
 * the per-frame hot path. The schema stays the single definition: `explain` gives the schema's own error message
 * for a frame the check refused. Fields the schema does not name are ignored, so exchanges may add fields freely.
 */
export interface Guard<A> {
  readonly is: (u: unknown) => u is A
  readonly explain: (u: unknown) => string
}

const EXPLAIN_CHARS = 300

export const compile = <A, I>(schema: Schema.Schema<A, I, never>): Guard<A> => {
  const decode = Schema.decodeUnknownEither(schema)
  // On the refusal path only; the formatter prints the offending value and recurses into it, so a hostile value
  // (nested thousands deep) makes it throw, and a huge one makes it long.
  const explain = (u: unknown): string => {
    try {
      const text = Either.match(decode(u), {
        onLeft: (e) => ParseResult.TreeFormatter.formatErrorSync(e).replace(/\s+/g, " "),
        onRight: () => "valid",
      })
      return text.length > EXPLAIN_CHARS ? `${text.slice(0, EXPLAIN_CHARS)}…` : text
    } catch (e) {
      return `does not match, and cannot be printed (${e instanceof Error ? e.message : String(e)})`
    }
  }
  return { is: generate(schema.ast) as (u: unknown) => u is A, explain }
}

/**
 * Generates one function of direct property reads (`u["p"]`), which V8 keeps monomorphic per frame shape; a loop
 * of per-field closures doing keyed reads measured several times slower. Only names and literals from our own
 * schemas reach the generated text, each through JSON.stringify.
 */
const generate = (ast: SchemaAST.AST): ((u: unknown) => boolean) => {
  if (ast._tag !== "TypeLiteral" || ast.indexSignatures.length > 0)
    throw new Error(`Guard.compile supports flat structs, not ${ast._tag}`)
  const refinements: Array<(v: unknown) => boolean> = []
  const terms = ast.propertySignatures.map((p) => {
    const v = `u[${JSON.stringify(p.name)}]`
    const test = valueTest(p.type, v, refinements)
    return p.isOptional ? `(${v} === undefined || ${test})` : test
  })
  const body = `return typeof u === "object" && u !== null${terms.map((t) => ` && ${t}`).join("")}`
  return new Function("r", `return (u) => { ${body} }`)(refinements)
}

const valueTest = (ast: SchemaAST.AST, v: string, refinements: Array<(v: unknown) => boolean>): string => {
  switch (ast._tag) {
    case "StringKeyword":
      return `typeof ${v} === "string"`
    case "NumberKeyword":
      return `Number.isFinite(${v})`
    case "BooleanKeyword":
      return `typeof ${v} === "boolean"`
    case "UnknownKeyword":
      return "true"
    case "UndefinedKeyword":
      return `${v} === undefined`
    case "Literal":
      return `${v} === ${JSON.stringify(ast.literal)}`
    case "Union":
      return `(${ast.types.map((t) => valueTest(t, v, refinements)).join(" || ")})`
    case "Refinement":
      refinements.push(Schema.is(Schema.make(ast)))
      return `r[${refinements.length - 1}](${v})`
    default:
      throw new Error(`Guard.compile does not support ${ast._tag}`)
  }
}
