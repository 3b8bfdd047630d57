# Writes OUTPUT, a C++ source defining `const char NAME[]` with the text of
# INPUT as a raw string literal (so the rule file is compiled into the
# binary and stays data in the repository).
#   cmake -DINPUT=... -DOUTPUT=... -DNAME=... -DNAMESPACE=... -P embed_text.cmake
file(READ "${INPUT}" text)
string(FIND "${text}" ")smtpscan_embed\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter")
endif()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by cmake/embed_text.cmake. Do not edit.\n"
  "namespace ${NAMESPACE} {\n"
  "extern const char ${NAME}[];\n"
  "const char ${NAME}[] = R\"smtpscan_embed(${text})smtpscan_embed\";\n"
  "}  // namespace ${NAMESPACE}\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
