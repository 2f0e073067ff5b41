# The checks CI runs beside the main build (tests/checks.sh; README,
# "Check jobs"). Included by the top-level CMakeLists.txt before any target.

# Clang proves what GCC cannot: every ABSL_GUARDED_BY field is read and
# written only with its mutex held, and every ABSL_EXCLUSIVE_LOCKS_REQUIRED
# function is called with it (DESIGN.md §7). Under -Werror a violation fails
# the build. Ignored absl::Status / StatusOr results fail every build already:
# both types are [[nodiscard]] in this abseil (-Wunused-result).
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  list(APPEND SYNOD_WARNINGS -Wthread-safety)
endif()

# Debian's abseil is not built with ThreadSanitizer, so TSan cannot see its
# Mutex lock and unlock and reports a race on every guarded field. Each
# SYNOD_TSAN executable links tests/sanitizers/tsan_absl_mutex.cc, which
# reports them (see that file).
if(SYNOD_TSAN)
  add_library(synod_tsan_absl_mutex OBJECT
    ${PROJECT_SOURCE_DIR}/tests/sanitizers/tsan_absl_mutex.cc)
  target_compile_options(synod_tsan_absl_mutex PRIVATE ${SYNOD_WARNINGS})
  target_link_libraries(synod_tsan_absl_mutex PUBLIC absl::synchronization absl::time
                                                     ${CMAKE_DL_LIBS})
endif()

# synod_sanitizer_support(target): what a sanitizer build adds to a target.
function(synod_sanitizer_support target)
  get_target_property(type ${target} TYPE)
  if(SYNOD_TSAN AND type STREQUAL "EXECUTABLE")
    target_link_libraries(${target} PRIVATE synod_tsan_absl_mutex)
  endif()
endfunction()

# synod_label_tests(label dir...): labels every test defined in each dir
# (ctest -L <label>), so a check job can pick a module's tests.
function(synod_label_tests label)
  foreach(dir ${ARGN})
    set_property(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir} APPEND PROPERTY LABELS ${label})
  endforeach()
endfunction()
