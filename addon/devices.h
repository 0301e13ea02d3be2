// Interface enumeration: pcap_findalldevs as plain JS objects.
#pragma once

#include <napi.h>

namespace pcap_pipe {

// devices(): [{ name, description?, flags: { up, running, loopback, wireless }, connection,
//               addresses: [{ family: 'IPv4'|'IPv6', address, netmask?, broadcast?, destination? }] }]
Napi::Value Devices(const Napi::CallbackInfo& info);

// libVersion(): pcap_lib_version(), e.g. "libpcap version 1.10.3 (with TPACKET_V3)".
Napi::Value LibVersion(const Napi::CallbackInfo& info);

}  // namespace pcap_pipe
