# cmake -DINPUT=file -DOUTPUT=file.cpp -P EmbedText.cmake
# Writes a C++ file defining tnl::status_page_html as the input's text, in a raw string
# literal (the input must not contain the delimiter `)tnl_embedded"`).
file(READ ${INPUT} content)
string(FIND "${content}" ")tnl_embedded\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string delimiter )tnl_embedded\"")
endif()
file(WRITE ${OUTPUT} "// Generated from ${INPUT} by cmake/EmbedText.cmake; do not edit.\n"
  "#include \"status_page.hpp\"\n"
  "namespace tnl {\n"
  "const std::string_view status_page_html = R\"tnl_embedded(${content})tnl_embedded\";\n"
  "}  // namespace tnl\n")
