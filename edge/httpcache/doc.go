// Package httpcache holds the HTTP caching rules of the meshcdn edge: parsing
// of the caching header fields and the decisions a shared cache makes from
// them. It performs no I/O and keeps no state; every function is safe for
// concurrent use.
//
// Standards followed:
//   - RFC 9111 (HTTP Caching), shared-cache rules: storing (§3), freshness
//     (§4.2), age calculation (§4.2.3), freshening from a 304 (§4.3.4) and the
//     Cache-Control directives (§5.2).
//   - RFC 9110 (HTTP Semantics): conditional requests (§13) and range
//     requests (§14).
//   - RFC 9213 (Targeted HTTP Cache Control: CDN-Cache-Control), parsed as a
//     Structured Fields dictionary (RFC 9651).
//   - RFC 9875 (Cache-Groups), RFC 9211 (Cache-Status), RFC 5861
//     (stale-while-revalidate, stale-if-error).
//   - W3C Edge Architecture Specification 1.0 (Surrogate-Control).
//
// Every parser treats its input as hostile: the work done is bounded by the
// input size (which is itself capped), allocations are bounded, and no input
// makes a function panic.
//
// # Which field controls caching
//
// A shared cache takes its instructions from the first of these that is
// present and valid (RFC 9213 §2.2, with Surrogate-Control treated as a
// targeted field ahead of CDN-Cache-Control):
//
//  1. Surrogate-Control with max-age or no-store applying to
//     Policy.SurrogateTarget (directives targeted at it, or else the
//     untargeted ones);
//  2. CDN-Cache-Control with a valid, non-empty Structured Fields dictionary;
//  3. Cache-Control together with Expires.
//
// The controlling field supplies every directive (no-store, private,
// no-cache, must-revalidate, explicit freshness, stale-while-revalidate,
// stale-if-error); the lower fields are then ignored, as RFC 9213 requires.
// This is what lets an origin send "Surrogate-Control: max-age=3600" with
// "Cache-Control: no-store": browsers do not store, the CDN does; and a
// Cache-Control stale-while-revalidate or stale-if-error does not extend a
// response that CDN-Cache-Control or Surrogate-Control governs. s-maxage
// implies proxy-revalidate (RFC 9111 §5.2.2.10): a response whose
// controlling field has s-maxage is never served stale, even with
// stale-while-revalidate or stale-if-error beside it. A
// Surrogate-Control without max-age or no-store (say, only
// "stale-if-error=86400") does not govern; its stale windows take precedence
// over the governing field's and its restrictive directives (private,
// no-cache, must-revalidate) are added to them.
package httpcache
