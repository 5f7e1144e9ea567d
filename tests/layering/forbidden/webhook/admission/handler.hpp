// Fixture of the layering test: admission reaching into kube, which the table forbids.
#pragma once

#include "policy/engine.hpp"
#include "webhook/kube_client.hpp"
