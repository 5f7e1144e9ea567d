// Fixture of the layering test: policy/ is a module with no dependency.
#pragma once
