// Early return on a failed absl::Status or absl::StatusOr (this abseil has
// no status macros).
//
// SYNOD_RETURN_IF_ERROR(expr): evaluates `expr` (an absl::Status) once and
//   returns it from the enclosing function if it is not OK.
// SYNOD_ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>)
//   once; returns its status if it is not OK, else moves its value into
//   `lhs`. `lhs` may declare a variable (`auto x`, `std::string x`) or name
//   an existing one (`x`, `*ptr`, `obj.field`). A type with a comma in it
//   must be spelled `auto` or through an alias (macro arguments split at
//   commas). It expands to several statements, so it needs braces when it is
//   the body of an if or a loop.
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SYNOD_RETURN_IF_ERROR(expr)                                                       \
  do {                                                                                    \
    if (::absl::Status synod_status_ = (expr); !synod_status_.ok()) return synod_status_; \
  } while (0)

#define SYNOD_ASSIGN_OR_RETURN(lhs, expr) \
  SYNOD_ASSIGN_OR_RETURN_IMPL_(SYNOD_STATUS_MACROS_CONCAT_(synod_statusor_, __COUNTER__), lhs, expr)

#define SYNOD_STATUS_MACROS_CONCAT_INNER_(a, b) a##b
#define SYNOD_STATUS_MACROS_CONCAT_(a, b) SYNOD_STATUS_MACROS_CONCAT_INNER_(a, b)
#define SYNOD_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr)    \
  auto statusor = (expr);                                    \
  if (!statusor.ok()) return ::std::move(statusor).status(); \
  lhs = ::std::move(statusor).value()
