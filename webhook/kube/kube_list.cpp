// The list pager (see kube_list.hpp).
#include "webhook/kube_list.hpp"

namespace exportgate::webhook {

std::string with_query(const std::string& path, const std::string& query) {
  return path + (path.find('?') == std::string::npos ? "?" : "&") + query;
}

bool for_each_page(KubeClient& client, const std::string& path, const ListPaging& paging) {
  std::string cont;
  for (;;) {
    if (paging.before_request) paging.before_request();
    std::string query = "limit=" + std::to_string(paging.limit);
    if (!cont.empty()) query += "&continue=" + url_encode(cont);
    const std::string url = with_query(path, query);
    KubeResponse res = client.get(url);
    if (!res.ok()) {
      if (!paging.on_refused) throw KubeUnavailable("GET " + url + ": " + res.describe());
      if (paging.on_refused(res, url, !cont.empty()) == PageRefused::kStop) return false;
      cont.clear();  // kRestart
      continue;
    }
    ListPage page;
    try {
      page = parse_list_page(res.body, paging.on_item);
    } catch (const ListDecodeError& e) {
      throw ListDecodeError("GET " + url + ": " + e.what());
    }
    if (paging.on_page) paging.on_page(page, url);
    if (page.continue_token.empty()) return true;
    cont = std::move(page.continue_token);
  }
}

}  // namespace exportgate::webhook
