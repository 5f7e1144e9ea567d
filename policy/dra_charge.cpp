// Charging DRA requests, failing closed: a request is charged as the most capable device its
// class and selectors could be given. Unknown classes, drivers, products or selector forms only
// ever widen the set of candidates.
#include "policy/dra_charge.hpp"

#include <algorithm>
#include <map>

#include "policy/dra_catalog.hpp"
#include "policy/dra_selector.hpp"
#include "policy/errors.hpp"

namespace exportgate::policy {

namespace {

// One device a request could be given, as the catalog charges it.
struct Candidate {
  const AcceleratorModel* model = nullptr;
  double fraction = 1;
  double tpp() const { return model->tpp * fraction; }
};

void add_note(std::vector<std::string>& notes, std::string note) {
  if (std::find(notes.begin(), notes.end(), note) == notes.end()) notes.push_back(std::move(note));
}

const AcceleratorModel* most_capable(const std::vector<const AcceleratorModel*>& models) {
  const AcceleratorModel* best = nullptr;
  for (const auto* m : models) {
    if (!best || m->tpp > best->tpp) best = m;
  }
  return best;
}

std::vector<const AcceleratorModel*> all_models(const Catalog& catalog) {
  std::vector<const AcceleratorModel*> out;
  for (const auto& m : catalog.models) out.push_back(&m);
  return out;
}

std::pair<std::string_view, std::string_view> split_attribute(std::string_view qualified) {
  const size_t slash = qualified.find('/');
  if (slash == std::string_view::npos) return {{}, qualified};
  return {qualified.substr(0, slash), qualified.substr(slash + 1)};
}

bool contains(const std::vector<std::string_view>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

bool any_of_values(const std::vector<std::string>& values, std::string_view v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// A published device -> how it is charged. A device of a driver the catalog has no mapping for,
// or whose product it does not know, is charged as the most capable model that could be behind it.
Candidate charge_device(std::string_view driver, const DraDevice& device, const Catalog& catalog,
                        std::vector<std::string>& notes) {
  const DraDriverMapping* mapping = find_dra_driver(driver);
  if (!mapping) {
    add_note(notes, "DRA driver \"" + std::string(driver) +
                        "\" is not in exportgate's catalog: its devices are charged as the most "
                        "capable accelerator");
    return {most_capable(all_models(catalog)), 1};
  }
  auto attribute = [&](std::string_view name) -> const std::string* {
    auto it = device.attributes.find(std::string(driver) + "/" + std::string(name));
    return it == device.attributes.end() ? nullptr : &it->second;
  };
  Candidate c;
  for (std::string_view attr : mapping->model_attributes) {
    if (const std::string* value = attribute(attr)) {
      c.model = most_capable(dra_models_named(catalog, *mapping, *value));
      if (!c.model) {
        add_note(notes, "device \"" + device.name + "\" of " + std::string(driver) + " is a \"" +
                            *value +
                            "\", which the catalog does not know: charged as the most capable "
                            "model of the driver");
      }
      break;
    }
  }
  if (!c.model) c.model = most_capable(dra_driver_models(catalog, *mapping));
  if (!c.model) c.model = most_capable(all_models(catalog));
  if (!mapping->type_attribute.empty()) {
    const std::string* type = attribute(mapping->type_attribute);
    if (type && contains(mapping->partition_types, *type)) {
      const std::string* profile = attribute(mapping->partition_attribute);
      const PartitionProfile* p =
          profile ? catalog.find_partition(std::string(mapping->partition_prefix) + *profile)
                  : nullptr;
      // An unknown profile is charged as the whole device.
      if (p) c.fraction = p->fraction;
    }
  }
  return c;
}

bool device_matches(const DraRequirements& req, const DraDevice& device) {
  for (const auto& r : req.attributes) {
    auto it = device.attributes.find(r.attribute);
    // A device without the attribute: CEL would fail on it; counted as a match (over-approximate).
    if (it != device.attributes.end() && !any_of_values(r.values, it->second)) return false;
  }
  return true;
}

// The devices the catalog says a mapped driver can publish: each model whole, and each partition
// of it under the driver's prefix.
struct VirtualDevice {
  Candidate charge;
  bool partition = false;
  std::string_view profile;
};

std::vector<VirtualDevice> catalog_devices(const DraDriverMapping& mapping,
                                           const Catalog& catalog) {
  std::vector<VirtualDevice> out;
  for (const auto* m : dra_driver_models(catalog, mapping)) {
    out.push_back({{m, 1}, false, {}});
    if (mapping.partition_prefix.empty()) continue;
    for (const auto& p : catalog.partitions) {
      if (!std::string_view(p.resource).starts_with(mapping.partition_prefix) ||
          std::find(p.parent_models.begin(), p.parent_models.end(), m->id) ==
              p.parent_models.end()) {
        continue;
      }
      out.push_back({{m, p.fraction},
                     true,
                     std::string_view(p.resource).substr(mapping.partition_prefix.size())});
    }
  }
  return out;
}

bool virtual_matches(const DraRequirements& req, const DraDriverMapping& mapping,
                     const VirtualDevice& d, const Catalog& catalog) {
  for (const auto& r : req.attributes) {
    auto [domain, name] = split_attribute(r.attribute);
    if (domain != mapping.driver) continue;
    if (contains(mapping.model_attributes, name)) {
      bool named = false;
      for (const auto& v : r.values) {
        const auto models = dra_models_named(catalog, mapping, v);
        named = named || std::find(models.begin(), models.end(), d.charge.model) != models.end();
      }
      if (!named) return false;
    } else if (!mapping.type_attribute.empty() && name == mapping.type_attribute) {
      const auto& types = d.partition ? mapping.partition_types : mapping.whole_types;
      if (types.empty()) continue;  // the driver's type values are not known here
      bool typed = false;
      for (const auto& v : r.values) typed = typed || contains(types, v);
      if (!typed) return false;
    } else if (d.partition && !mapping.partition_attribute.empty() &&
               name == mapping.partition_attribute) {
      if (!any_of_values(r.values, d.profile)) return false;
    }
  }
  return true;
}

struct RequestCharge {
  std::vector<Candidate> candidates;  // never empty
  int64_t count = 1;
  const Candidate& worst() const {
    return *std::max_element(
        candidates.begin(), candidates.end(),
        [](const Candidate& a, const Candidate& b) { return a.tpp() < b.tpp(); });
  }
  double tpp() const { return static_cast<double>(count) * worst().tpp(); }
};

void add_candidate(std::vector<Candidate>& into, Candidate c) {
  if (!c.model) return;
  for (const auto& e : into) {
    if (e.model == c.model && e.fraction == c.fraction) return;
  }
  into.push_back(c);
}

void add_whole_catalog(std::vector<Candidate>& into, const Catalog& catalog) {
  for (const auto& m : catalog.models) add_candidate(into, {&m, 1});
}

// The catalog's devices a request could be given when no published device is known to match.
void catalog_candidates(const DraRequirements& req, const DraExactRequest& r,
                        const Catalog& catalog, std::vector<Candidate>& out,
                        std::vector<std::string>& notes) {
  std::vector<std::string> drivers;
  if (req.drivers) {
    drivers = *req.drivers;
  } else {
    for (const auto& d : dra_drivers()) drivers.emplace_back(d.driver);
    add_note(notes, "request \"" + r.name + "\" (class \"" + r.device_class +
                        "\") does not name its driver: charged as the most capable accelerator "
                        "of any driver");
    add_whole_catalog(out, catalog);
  }
  if (drivers.empty()) {
    add_note(notes, "the selectors of request \"" + r.name +
                        "\" name no driver that could satisfy them all: charged as the most "
                        "capable accelerator");
    add_whole_catalog(out, catalog);
  }
  for (const auto& driver : drivers) {
    const DraDriverMapping* mapping = find_dra_driver(driver);
    if (!mapping) {
      add_note(notes, "DRA driver \"" + driver +
                          "\" is not in exportgate's catalog: its devices are charged as the "
                          "most capable accelerator");
      add_whole_catalog(out, catalog);
      continue;
    }
    const auto devices = catalog_devices(*mapping, catalog);
    bool any = false;
    for (const auto& d : devices) {
      if (!virtual_matches(req, *mapping, d, catalog)) continue;
      add_candidate(out, d.charge);
      any = true;
    }
    if (!any) {
      add_note(notes, "the selectors of request \"" + r.name +
                          "\" match no device the catalog knows for " + driver +
                          ": charged as the most capable device of the driver");
      for (const auto& d : devices) add_candidate(out, d.charge);
    }
  }
  if (out.empty()) add_whole_catalog(out, catalog);
}

RequestCharge charge_exact(const DraExactRequest& r, const Catalog& catalog,
                           const DraContext* context, std::vector<std::string>& notes) {
  DraRequirements req;
  const DraDeviceClass* device_class = context ? context->find_class(r.device_class) : nullptr;
  if (device_class) {
    for (const auto& s : device_class->selectors) req.add_selector(s);
  } else {
    add_note(notes, "DeviceClass \"" + r.device_class +
                        "\" is not known here: charged as the most capable accelerator of any "
                        "driver");
  }
  for (const auto& s : r.selectors) req.add_selector(s);

  RequestCharge charge;
  int64_t published = 0;
  if (context && device_class) {
    for (const auto& slice : context->slices) {
      if (!req.allows_driver(slice.driver)) continue;
      for (const auto& device : slice.devices) {
        if (!device_matches(req, device)) continue;
        ++published;
        add_candidate(charge.candidates, charge_device(slice.driver, device, catalog, notes));
      }
    }
  }
  if (charge.candidates.empty()) {
    if (device_class) {
      catalog_candidates(req, r, catalog, charge.candidates, notes);
    } else {
      add_whole_catalog(charge.candidates, catalog);
    }
  }
  if (charge.candidates.empty()) {
    throw ManifestError("request \"" + r.name +
                        "\": the accelerator catalog has no model to charge");
  }
  if (r.all) {
    if (published > 0) {
      charge.count = std::min(published, kDraMaxDevicesPerClaim);
    } else {
      charge.count = kDraMaxDevicesPerClaim;
      add_note(notes, "request \"" + r.name +
                          "\" asks for all matching devices, a number not known here: charged "
                          "as " +
                          std::to_string(kDraMaxDevicesPerClaim) +
                          ", the most one claim can be allocated");
    }
  } else {
    charge.count = std::min(r.count, kDraMaxDevicesPerClaim);
  }
  if (r.admin_access) {
    add_note(notes, "request \"" + r.name +
                        "\" has adminAccess: charged like any request, since the container gets "
                        "the device");
  }
  return charge;
}

std::string any_of(const std::vector<Candidate>& candidates) {
  std::vector<const AcceleratorModel*> models;
  for (const auto& c : candidates) {
    if (std::find(models.begin(), models.end(), c.model) == models.end()) {
      models.push_back(c.model);
    }
  }
  std::stable_sort(models.begin(), models.end(),
                   [](const auto* a, const auto* b) { return a->tpp > b->tpp; });
  if (models.size() == 1) return models.front()->display_name;
  constexpr size_t kShown = 5;
  std::string out = "any of: ";
  for (size_t i = 0; i < models.size() && i < kShown; ++i) {
    if (i) out += ", ";
    out += models[i]->display_name;
  }
  if (models.size() > kShown) out += ", … (" + std::to_string(models.size() - kShown) + " more)";
  return out;
}

AcceleratorDemand make_demand(std::string resource, const Candidate& c, double quantity,
                              bool pinned, std::string model_name) {
  AcceleratorDemand d;
  d.resource = std::move(resource);
  d.model_id = c.model->id;
  d.model_name = std::move(model_name);
  d.quantity = quantity;
  d.device_fraction = c.fraction;
  d.tpp_per_pod = quantity * c.tpp();
  d.export_class = c.model->export_class;
  d.pinned = pinned;
  return d;
}

std::string request_label(std::string_view label, std::string_view request,
                          std::string_view device_class) {
  return "DRA " + std::string(label) + " request \"" + std::string(request) + "\", class \"" +
         std::string(device_class) + "\"";
}

// The charged alternative of a request: the only one, or for firstAvailable the most capable.
std::pair<const DraExactRequest*, RequestCharge> charge_request(const DraRequest& request,
                                                                const Catalog& catalog,
                                                                const DraContext* context,
                                                                std::vector<std::string>& notes) {
  const DraExactRequest* chosen = nullptr;
  RequestCharge best;
  for (const auto& alt : request.alternatives) {
    RequestCharge c = charge_exact(alt, catalog, context, notes);
    if (!chosen || c.tpp() > best.tpp()) {
      chosen = &alt;
      best = std::move(c);
    }
  }
  if (request.alternatives.size() > 1) {
    add_note(notes, "request \"" + request.name + "\" lists " +
                        std::to_string(request.alternatives.size()) +
                        " alternatives (firstAvailable): charged as the most capable, \"" +
                        chosen->name + "\"");
  }
  return {chosen, std::move(best)};
}

}  // namespace

const DraDeviceClass* DraContext::find_class(std::string_view name) const {
  for (const auto& c : classes) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

const DraClaim* DraContext::find_claim(std::string_view ns, std::string_view name) const {
  for (const auto& c : claims) {
    if (c.name == name && c.namespace_ == ns) return &c;
  }
  return nullptr;
}

const DraClaimTemplate* DraContext::find_template(std::string_view ns,
                                                  std::string_view name) const {
  for (const auto& t : templates) {
    if (t.name == name && t.namespace_ == ns) return &t;
  }
  return nullptr;
}

const DraDevice* DraContext::find_device(std::string_view driver, std::string_view pool,
                                         std::string_view device) const {
  for (const auto& s : slices) {
    if (s.driver != driver || s.pool != pool) continue;
    for (const auto& d : s.devices) {
      if (d.name == device) return &d;
    }
  }
  return nullptr;
}

bool DraContext::add_object(const nlohmann::json& object) {
  if (is_dra_kind(object, "DeviceClass")) {
    classes.push_back(decode_device_class(object));
  } else if (is_dra_kind(object, "ResourceSlice")) {
    slices.push_back(decode_resource_slice(object));
  } else if (is_dra_kind(object, "ResourceClaim")) {
    claims.push_back(decode_resource_claim(object));
    if (claims.back().namespace_.empty()) claims.back().namespace_ = default_namespace;
  } else if (is_dra_kind(object, "ResourceClaimTemplate")) {
    templates.push_back(decode_resource_claim_template(object));
    if (templates.back().namespace_.empty()) templates.back().namespace_ = default_namespace;
  } else {
    return false;
  }
  return true;
}

std::vector<AcceleratorDemand> dra_spec_accelerators(const DraClaimSpec& spec,
                                                     std::string_view label, const Catalog& catalog,
                                                     const DraContext* context,
                                                     std::vector<std::string>& notes) {
  std::vector<AcceleratorDemand> out;
  for (const auto& request : spec.requests) {
    if (request.alternatives.empty()) continue;
    auto [chosen, charge] = charge_request(request, catalog, context, notes);
    const Candidate& worst = charge.worst();
    const bool pinned = charge.candidates.size() == 1;
    out.push_back(make_demand(
        request_label(label, chosen->name, chosen->device_class), worst,
        static_cast<double>(charge.count), pinned,
        pinned ? worst.model->display_name
               : any_of(charge.candidates) + " (charged as " + worst.model->display_name + ")"));
  }
  return out;
}

std::vector<AcceleratorDemand> dra_claim_accelerators(const DraClaim& claim, const Catalog& catalog,
                                                      const DraContext* context,
                                                      std::vector<std::string>& notes) {
  const std::string label = "ResourceClaim \"" + claim.name + "\"";
  if (!claim.allocated) return dra_spec_accelerators(claim.spec, label, catalog, context, notes);
  // Exact: the allocated devices, grouped by request and model.
  struct Group {
    std::string request;
    std::string device_class;
    Candidate charge;
    double count = 0;
  };
  std::vector<Group> groups;
  for (const auto& result : claim.allocation) {
    std::string request_name = result.request;
    std::string device_class;
    const DraExactRequest* alternative = nullptr;
    for (const auto& r : claim.spec.requests) {
      for (const auto& alt : r.alternatives) {
        if (alt.name == result.request) alternative = &alt;
      }
    }
    if (alternative) device_class = alternative->device_class;
    Candidate c;
    const DraDevice* device =
        context ? context->find_device(result.driver, result.pool, result.device) : nullptr;
    if (device) {
      c = charge_device(result.driver, *device, catalog, notes);
    } else {
      add_note(notes, "allocated device \"" + result.device + "\" (" + result.driver + ", pool \"" +
                          result.pool +
                          "\") is not in the known ResourceSlices: charged as the most capable "
                          "device its request could be given");
      DraExactRequest fallback;
      if (alternative) {
        fallback = *alternative;
      } else {
        fallback.name = result.request;
        fallback.device_class = "";
      }
      fallback.all = false;
      fallback.count = 1;
      c = charge_exact(fallback, catalog, context, notes).worst();
    }
    auto g = std::find_if(groups.begin(), groups.end(), [&](const Group& e) {
      return e.request == request_name && e.charge.model == c.model &&
             e.charge.fraction == c.fraction;
    });
    if (g == groups.end()) {
      groups.push_back({request_name, device_class, c, 1});
    } else {
      g->count += 1;
    }
  }
  std::vector<AcceleratorDemand> out;
  for (const auto& g : groups) {
    out.push_back(make_demand(request_label(label, g.request, g.device_class) + ", allocated",
                              g.charge, g.count, true, g.charge.model->display_name));
  }
  return out;
}

}  // namespace exportgate::policy
