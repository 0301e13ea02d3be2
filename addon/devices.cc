#include "devices.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "common.h"

namespace pcap_pipe {
namespace {

// Text form of an IPv4/IPv6 socket address, or an empty string for other families (AF_PACKET...).
std::string AddressText(const sockaddr* addr) {
  if (addr == nullptr) return "";
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr->sa_family == AF_INET) {
    const auto* in4 = reinterpret_cast<const sockaddr_in*>(addr);
    if (inet_ntop(AF_INET, &in4->sin_addr, text, sizeof text) == nullptr) return "";
  } else if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    if (inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text) == nullptr) return "";
  } else {
    return "";
  }
  return text;
}

void SetIfPresent(Napi::Object target, const char* key, const sockaddr* addr) {
  std::string text = AddressText(addr);
  if (!text.empty()) target.Set(key, text);
}

const char* ConnectionStatus(bpf_u_int32 flags) {
  switch (flags & PCAP_IF_CONNECTION_STATUS) {
    case PCAP_IF_CONNECTION_STATUS_CONNECTED: return "connected";
    case PCAP_IF_CONNECTION_STATUS_DISCONNECTED: return "disconnected";
    case PCAP_IF_CONNECTION_STATUS_NOT_APPLICABLE: return "not-applicable";
    default: return "unknown";
  }
}

Napi::Object DeviceObject(Napi::Env env, const pcap_if_t* dev) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", dev->name);
  if (dev->description != nullptr) out.Set("description", dev->description);

  Napi::Object flags = Napi::Object::New(env);
  flags.Set("up", (dev->flags & PCAP_IF_UP) != 0);
  flags.Set("running", (dev->flags & PCAP_IF_RUNNING) != 0);
  flags.Set("loopback", (dev->flags & PCAP_IF_LOOPBACK) != 0);
  flags.Set("wireless", (dev->flags & PCAP_IF_WIRELESS) != 0);
  out.Set("flags", flags);
  out.Set("connection", ConnectionStatus(dev->flags));

  Napi::Array addresses = Napi::Array::New(env);
  uint32_t n = 0;
  for (const pcap_addr_t* a = dev->addresses; a != nullptr; a = a->next) {
    if (a->addr == nullptr || (a->addr->sa_family != AF_INET && a->addr->sa_family != AF_INET6)) continue;
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("family", a->addr->sa_family == AF_INET ? "IPv4" : "IPv6");
    entry.Set("address", AddressText(a->addr));
    SetIfPresent(entry, "netmask", a->netmask);
    SetIfPresent(entry, "broadcast", a->broadaddr);
    SetIfPresent(entry, "destination", a->dstaddr);
    addresses.Set(n++, entry);
  }
  out.Set("addresses", addresses);
  return out;
}

}  // namespace

Napi::Value Devices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  pcap_if_t* all = nullptr;
  if (pcap_findalldevs(&all, errbuf) != 0) {
    ThrowCoded(env, kCodeLive, std::string("cannot list capture devices: ") + errbuf);
    return env.Undefined();
  }
  Napi::Array list = Napi::Array::New(env);
  uint32_t n = 0;
  for (const pcap_if_t* dev = all; dev != nullptr; dev = dev->next) list.Set(n++, DeviceObject(env, dev));
  pcap_freealldevs(all);
  return list;
}

Napi::Value LibVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), pcap_lib_version());
}

}  // namespace pcap_pipe
