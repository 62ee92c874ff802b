// JSON Schema to GBNF (grammar.h), for structured output: the grammar matches exactly the JSON texts the schema
// accepts, in the subset below, with llama.cpp's whitespace rule (nothing, a space, or a newline and up to 20
// spaces/tabs after each token) so its rules and ours read alike.
//   type (one or a list): object, array, string, number, integer, boolean, null; no type: any value (an object
//     when `properties` is given)
//   object: properties (written in the schema's order), required, additionalProperties (false: none; a schema:
//     extra keys with such values; absent or true: extra keys with any value, names not checked against the
//     declared ones)
//   array: items, prefixItems (a tuple), minItems, maxItems
//   string: minLength, maxLength, format date / time / date-time / uuid (other formats are annotations)
//   enum, const, anyOf, oneOf (as anyOf), $ref to #/$defs/... or #/definitions/... (recursion allowed)
// Keywords that would need more (pattern, allOf, not, minimum/maximum, multipleOf, ...) are refused with an Error
// naming them rather than producing output the schema rejects.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace ternion {

// Throws Error ("json schema: <path>: ...") for what the converter does not support or a malformed schema.
std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema);
// The same from JSON text (an Error for text that is not JSON).
std::string json_schema_to_gbnf(std::string_view schema_text);

// Any JSON object (OpenAI's response_format json_object).
std::string json_object_gbnf();

// `text` as a GBNF string literal, quotes included.
std::string gbnf_literal(std::string_view text);

}  // namespace ternion
