// Finds device access outside requests/limits in a pod spec (see workload_device_access.hpp).
#include "policy/workload_device_access.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include "policy/json_member.hpp"

namespace exportgate::policy {
namespace {

using json = nlohmann::json;

struct DevicePath {
  std::string_view prefix;  // matches the path itself or anything below it
  std::string_view vendor;
};
// Host paths that hold accelerator device nodes. "/" and "/dev" reach all of them.
constexpr std::array<DevicePath, 10> kDevicePaths = {{{"/", ""},
                                                      {"/dev", ""},
                                                      {"/dev/nvidia", "NVIDIA"},
                                                      {"/dev/nvidia-caps", "NVIDIA"},
                                                      {"/dev/dri", ""},
                                                      {"/dev/kfd", "AMD"},
                                                      {"/dev/accel", ""},
                                                      {"/dev/hl", "Intel"},
                                                      {"/dev/neuron", "AWS"},
                                                      {"/dev/vfio", ""}}};

// "/" and "/dev" match exactly (or "/dev/..." is matched by a longer entry or by the generic
// rule below); the device prefixes match names that start with them (/dev/nvidia0, /dev/neuron3).
const DevicePath* device_path(const std::string& path) {
  if (path == "/" || path == "/dev") return &kDevicePaths[path == "/" ? 0 : 1];
  for (size_t i = 2; i < kDevicePaths.size(); ++i) {
    if (path.starts_with(kDevicePaths[i].prefix)) return &kDevicePaths[i];
  }
  return nullptr;
}

// Count of a device list ("0,1", "GPU-uuid,GPU-uuid"); a whole node for "all" and anything else.
double listed_devices(std::string_view value) {
  if (value == "all") return kWholeNodeDevices;
  double n = 1;
  for (char c : value) n += c == ',' ? 1 : 0;
  return std::min(n, kWholeNodeDevices);
}

void merge(std::optional<DeviceAccess>& into, DeviceAccess found) {
  if (!into) {
    into = std::move(found);
    return;
  }
  if (into->vendor != found.vendor) into->vendor.clear();
  into->devices = std::max(into->devices, found.devices);
}

void scan_containers(const json& spec, std::string_view spec_path, std::string_view field,
                     std::optional<DeviceAccess>& out) {
  const json* list = json_member(spec, field);
  if (!list || !list->is_array()) return;
  for (size_t i = 0; i < list->size(); ++i) {
    const json& c = (*list)[i];
    if (!c.is_object()) continue;
    std::string who =
        std::string(spec_path) + "." + std::string(field) + "[" + std::to_string(i) + "]";
    if (const json* name = json_member(c, "name"); name && name->is_string()) {
      who += " (\"" + name->get<std::string>() + "\")";
    }
    if (const json* env = json_member(c, "env"); env && env->is_array()) {
      for (const json& e : *env) {
        const json* name = json_member(e, "name");
        if (!name || !name->is_string() || *name != "NVIDIA_VISIBLE_DEVICES") continue;
        const json* value = json_member(e, "value");
        if (json_member(e, "valueFrom")) {
          merge(out, {who + " sets NVIDIA_VISIBLE_DEVICES from a reference", "NVIDIA",
                      kWholeNodeDevices});
          continue;
        }
        const std::string v = value && value->is_string() ? value->get<std::string>() : "";
        // The NVIDIA container runtime gives no device for these (or for an unset variable).
        if (v.empty() || v == "void" || v == "none") continue;
        merge(out, {who + " sets NVIDIA_VISIBLE_DEVICES=" + v, "NVIDIA", listed_devices(v)});
      }
    }
    if (const json* sc = json_member(c, "securityContext")) {
      const json* privileged = json_member(*sc, "privileged");
      if (privileged && privileged->is_boolean() && privileged->get<bool>()) {
        merge(out, {who + " is privileged (every host device)", "", kWholeNodeDevices});
      }
    }
  }
}

}  // namespace

std::string normalize_host_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    const std::string_view part = path.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out;
  for (auto p : parts) {
    out += '/';
    out += p;
  }
  return out.empty() ? "/" : out;
}

std::optional<DeviceAccess> find_device_access(const json& pod_spec, std::string_view spec_path) {
  std::optional<DeviceAccess> out;
  if (!pod_spec.is_object()) return out;
  for (std::string_view field : {"containers", "initContainers", "ephemeralContainers"}) {
    scan_containers(pod_spec, spec_path, field, out);
  }
  const json* volumes = json_member(pod_spec, "volumes");
  if (volumes && volumes->is_array()) {
    for (size_t i = 0; i < volumes->size(); ++i) {
      const json* host = json_member((*volumes)[i], "hostPath");
      const json* path = host ? json_member(*host, "path") : nullptr;
      if (!path || !path->is_string()) continue;
      const std::string normal = normalize_host_path(path->get_ref<const std::string&>());
      if (const DevicePath* d = device_path(normal)) {
        merge(out, {std::string(spec_path) + ".volumes[" + std::to_string(i) +
                        "] mounts host path " + path->get<std::string>(),
                    std::string(d->vendor), kWholeNodeDevices});
      }
    }
  }
  return out;
}

}  // namespace exportgate::policy
