#!/bin/sh
# Captures what iproute2 sends for the single-VXLAN model's commands (run as root; writes NN.txt).
set -x
NS=s2cap$$
ip netns add $NS
X="ip netns exec $NS"
T="strace -f -e trace=sendmsg,sendto -e write=all -s 0 -o"
$X ip link set lo up
$T 01.txt $X ip link add br-evpn type bridge vlan_filtering 1 vlan_default_pvid 0
$X ip link add br-evpn type bridge 2>/dev/null
$T 02.txt $X ip link add vx-evpn type vxlan external vnifilter local 198.18.0.1 dstport 4789 nolearning
$X ip link set vx-evpn master br-evpn
$T 03.txt $X ip link set dev vx-evpn type bridge_slave vlan_tunnel on learning off neigh_suppress on
$T 04.txt $X bridge vlan add dev vx-evpn vid 10 tunnel_info id 100
$T 05.txt $X bridge vlan add dev br-evpn vid 10 self
$T 06.txt $X bridge vni add dev vx-evpn vni 100
$T 07.txt $X bridge vni delete dev vx-evpn vni 100
$T 08.txt $X bridge fdb replace 02:00:00:00:00:01 dev vx-evpn dst 198.18.0.2 src_vni 100 self extern_learn dynamic
$T 09.txt $X bridge fdb replace 02:00:00:00:00:01 dev vx-evpn vlan 10 master extern_learn dynamic
$T 10.txt $X bridge fdb append 00:00:00:00:00:00 dev vx-evpn dst 198.18.0.2 src_vni 100 self permanent
$X ip link add br-evpn.10 type veth peer name p10
$T 11.txt $X ip neigh replace 192.0.2.5 lladdr 02:00:00:00:00:05 dev br-evpn.10 nud noarp extern_learn proto 235
$X ip link add tap0 type veth peer name p0; $X ip link set tap0 master br-evpn
$T 12.txt $X bridge vlan add dev tap0 vid 10 pvid untagged
$T 13.txt $X ip link add link br-evpn name br-evpn.11 type vlan id 11
$T 14.txt $X bridge vlan del dev vx-evpn vid 10
$T 15.txt $X bridge vlan del dev br-evpn vid 10 self
$T 16.txt $X bridge fdb del 02:00:00:00:00:01 dev vx-evpn src_vni 100 self
$T 17.txt $X bridge fdb del 02:00:00:00:00:01 dev vx-evpn vlan 10 master
$T 18.txt $X bridge fdb del 00:00:00:00:00:00 dev vx-evpn dst 198.18.0.2 src_vni 100 self
$T 19.txt $X bridge fdb replace 02:00:00:00:00:01 dev vx-evpn dst 198.18.0.2 src_vni 100 self sticky static
$T 20.txt $X bridge fdb replace 02:00:00:00:00:01 dev vx-evpn vlan 10 master sticky static
$T 21.txt $X ip neigh del 192.0.2.5 dev br-evpn.10
$X ip -o link show
ip netns del $NS
