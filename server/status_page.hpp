// The live status page served at `/` (server/status_page.html, embedded at build time so
// that the binary needs no files and the page no network).
#pragma once

#include <string_view>

namespace tnl {

extern const std::string_view status_page_html;

}  // namespace tnl
