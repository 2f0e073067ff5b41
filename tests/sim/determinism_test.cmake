# Runs one raft_sim seed twice, in two processes, and fails unless both
# traces are identical and substantial.
#   cmake -DSIM=<raft_sim> -DSEED=<s> -DNODES=<n> -DOUT=<prefix> -P determinism_test.cmake
foreach(run a b)
  execute_process(COMMAND ${SIM} --seed=${SEED} --nodes=${NODES} --trace
                  OUTPUT_FILE ${OUT}.${run}.txt RESULT_VARIABLE rc_${run})
endforeach()
if(NOT rc_a STREQUAL rc_b)
  message(FATAL_ERROR "exit status differs between runs: ${rc_a} vs ${rc_b}")
endif()
file(STRINGS ${OUT}.a.txt lines)
list(LENGTH lines n)
if(n LESS 1000)
  message(FATAL_ERROR "trace has only ${n} lines; expected a full history")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT}.a.txt ${OUT}.b.txt
                RESULT_VARIABLE differ)
if(differ)
  message(FATAL_ERROR "seed ${SEED} traced differently twice: diff ${OUT}.a.txt ${OUT}.b.txt")
endif()
message(STATUS "seed ${SEED}: ${n} trace lines, identical in two runs")
