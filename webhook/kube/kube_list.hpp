// Reading a list page by page (limit/continue): the one pager of the informers, the audit and the
// PolicyReport writer.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "webhook/kube_client.hpp"
#include "webhook/kube_watch.hpp"

namespace exportgate::webhook {

// `path` with `query` appended ("?" or "&": the path may carry a query of its own).
std::string with_query(const std::string& path, const std::string& query);

// What for_each_page does with an answer that is not 2xx (when the hook does not throw).
enum class PageRefused {
  kStop,     // give up: for_each_page returns false
  kRestart,  // list again from the first page (an expired continue token)
};

struct ListPaging {
  int limit = 500;
  // Before each request; throws to abandon the list (shutdown, a cancelled pass).
  std::function<void()> before_request;
  // Each item as soon as it is parsed (see parse_list_page); it may move from it.
  std::function<void(nlohmann::json&)> on_item;
  // Each answer that is not 2xx, with the URL asked and whether it continued a list: throw,
  // or say what to do. Unset: KubeUnavailable.
  std::function<PageRefused(const KubeResponse&, const std::string& url, bool continued)>
      on_refused;
  // Each page once its items are through, with the URL asked.
  std::function<void(const ListPage&, const std::string& url)> on_page;
};

// GETs `path` page by page (limit=N, then continue=TOKEN until a page has none) and hands each
// item over as it is parsed. The continue token is opaque (base64 in practice: '+', '/', '=')
// and goes url-encoded. Returns false when on_refused said kStop. Throws ListDecodeError (the
// URL in its text) on a malformed page, and what the hooks and KubeClient throw.
bool for_each_page(KubeClient& client, const std::string& path, const ListPaging& paging);

}  // namespace exportgate::webhook
