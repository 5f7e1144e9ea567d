// Device access outside requests/limits: a container that reaches accelerators without asking
// the device plugin for them (NVIDIA_VISIBLE_DEVICES in its env, privileged mode, the host's /dev
// mounted through a hostPath volume). On an accelerator node such a pod uses devices nothing
// counts, so exportgate charges it as an unpinned accelerator request (docs/catalog.md).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace exportgate::policy {

// Devices a pod with device access is charged for when it names no device list: one node's
// worth on the common 8-accelerator servers (HGX, MI300X platforms, trn2).
inline constexpr double kWholeNodeDevices = 8;

struct DeviceAccess {
  std::string what;    // "spec.containers[0] (\"app\") sets NVIDIA_VISIBLE_DEVICES=all"
  std::string vendor;  // catalog vendor the access reaches ("NVIDIA"); "" = any vendor
  double devices = kWholeNodeDevices;  // devices reachable
};

// The device access of one pod spec, or nullopt. Reads containers, initContainers,
// ephemeralContainers and volumes; ignores malformed parts (pod_accelerators reports those).
std::optional<DeviceAccess> find_device_access(const nlohmann::json& pod_spec,
                                               std::string_view spec_path);

// "/dev/../dev//nvidia0/" -> "/dev/nvidia0": the lexical normal form of an absolute path.
std::string normalize_host_path(std::string_view path);

}  // namespace exportgate::policy
