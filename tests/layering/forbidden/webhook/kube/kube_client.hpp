// Fixture of the layering test: a kube header.
#pragma once

#include "policy/engine.hpp"
