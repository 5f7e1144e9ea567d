// This machine's host name (in a Pod: the Pod's name).
#pragma once

#include <string>

namespace exportgate::webhook {

// gethostname(), or "" when it fails.
std::string host_name();

}  // namespace exportgate::webhook
