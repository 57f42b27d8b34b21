extension Simulation {
    /// What a run exercised, so that a green run can be told from an idle one.
    struct Statistics: CustomStringConvertible {
        var bindingMoves = 0
        var movesByAttackerCopies = 0
        var attacks = 0
        var homeAgentRestarts = 0
        var uncleanRestarts = 0
        var suspends = 0
        var clockJumps = 0
        var uplinkSwitches = 0
        var natRebindings = 0
        var reachabilityChecks = 0
        var deliveredToMobileNodes = 0
        var deliveredToInternet = 0
        /// What the cores dropped, by reason (the attacker's work shows here).
        var drops: [String: UInt64] = [:]

        mutating func add(_ other: Statistics) {
            bindingMoves += other.bindingMoves
            movesByAttackerCopies += other.movesByAttackerCopies
            attacks += other.attacks
            homeAgentRestarts += other.homeAgentRestarts
            uncleanRestarts += other.uncleanRestarts
            suspends += other.suspends
            clockJumps += other.clockJumps
            uplinkSwitches += other.uplinkSwitches
            natRebindings += other.natRebindings
            reachabilityChecks += other.reachabilityChecks
            deliveredToMobileNodes += other.deliveredToMobileNodes
            deliveredToInternet += other.deliveredToInternet
            drops.merge(other.drops, uniquingKeysWith: +)
        }

        var description: String {
            "\(bindingMoves) binding moves (\(movesByAttackerCopies) by the attacker's first delivery of a lost datagram), "
                + "\(attacks) attacks, \(homeAgentRestarts) HA restarts (\(uncleanRestarts) unclean), \(suspends) suspends, "
                + "\(clockJumps) clock jumps, \(uplinkSwitches) uplink switches, \(natRebindings) NAT rebindings, "
                + "\(reachabilityChecks) reachability checks passed, \(deliveredToMobileNodes) packets delivered to MNs, "
                + "\(deliveredToInternet) from MNs; drops: "
                + drops.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
    }
}

extension Dictionary {
    func mapKeys(_ transform: (Key) -> Key) -> [Key: Value] {
        Dictionary(uniqueKeysWithValues: map { (transform($0.key), $0.value) })
    }
}
