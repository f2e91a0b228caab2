/**
 * Many simulated Auto Scaling groups behind one set of ports, as one AWS account serves many fleets: the
 * Fleet port routes by group name, Commands by fleet (command ids carry their group), Traffic by target
 * group. Each group is its own SimWorld, so each fleet's convergence is judged on its own hosts.
 */
import type { Commands, InvocationResult, SendArgs } from '../ports/commands.ts';
import type { Fleet, FleetRef, Instance, LifecycleResult } from '../ports/fleet.ts';
import type { TargetState, Traffic } from '../ports/traffic.ts';
import { NotFoundError } from '../errors.ts';
import { SimCommands } from './simCommands.ts';
import { SimFleet } from './simFleet.ts';
import { SimTraffic } from './simTraffic.ts';
import type { SimWorld } from './simWorld.ts';

export interface SimGroup {
  fleet: string;
  groupName: string;
  targetGroupArn: string;
  world: SimWorld;
  fleetPort: SimFleet;
  commands: SimCommands;
  traffic: SimTraffic;
}

export class SimGroups {
  private readonly byFleet = new Map<string, SimGroup>();
  private readonly byGroupName = new Map<string, SimGroup>();
  private readonly byTargetGroup = new Map<string, SimGroup>();

  add(group: SimGroup): void {
    this.byFleet.set(group.fleet, group);
    this.byGroupName.set(group.groupName, group);
    this.byTargetGroup.set(group.targetGroupArn, group);
  }

  all(): SimGroup[] {
    return [...this.byFleet.values()];
  }

  group(fleet: string): SimGroup {
    const group = this.byFleet.get(fleet);
    if (!group) throw new NotFoundError(`no simulated group for fleet ${fleet}`);
    return group;
  }

  private named(ref: FleetRef): SimGroup {
    const group = this.byGroupName.get(ref.autoScalingGroupName);
    if (!group) throw new NotFoundError(`Auto Scaling group ${ref.autoScalingGroupName} not found (simulated)`);
    return group;
  }

  fleetPort(): Fleet {
    return {
      list: (ref: FleetRef): Promise<Instance[]> => this.named(ref).fleetPort.list(ref),
      completeLifecycle: (args: { ref: FleetRef; instanceId: string; result: LifecycleResult }) => this.named(args.ref).fleetPort.completeLifecycle(args),
      heartbeat: (args: { ref: FleetRef; instanceId: string }) => this.named(args.ref).fleetPort.heartbeat(args),
      markUnhealthy: (args: { ref: FleetRef; instanceId: string }) => this.named(args.ref).fleetPort.markUnhealthy(args),
    };
  }

  commands(): Commands {
    const split = (commandId: string): [SimGroup, string] => {
      const at = commandId.indexOf('/');
      return [this.group(commandId.slice(0, at)), commandId.slice(at + 1)];
    };
    return {
      send: async (args: SendArgs) => {
        const { commandId } = await this.group(args.fleet).commands.send(args);
        return { commandId: `${args.fleet}/${commandId}` };
      },
      results: (commandId: string): Promise<InvocationResult[]> => {
        const [group, id] = split(commandId);
        return group.commands.results(id);
      },
      cancel: (args: { commandId: string; instanceIds?: string[] }) => {
        const [group, id] = split(args.commandId);
        return group.commands.cancel({ ...args, commandId: id });
      },
      findByAttempt: async (args: { fleet: string; attemptId: string; sentAfterMs?: number }) => {
        const found = await this.group(args.fleet).commands.findByAttempt(args);
        return found === null ? null : `${args.fleet}/${found}`;
      },
      cancelOrphans: (args: { fleet: string; instanceId: string }) => this.group(args.fleet).commands.cancelOrphans(args),
    };
  }

  traffic(): Traffic {
    const owner = (arns: string[]): SimGroup => {
      const group = this.byTargetGroup.get(arns[0] ?? '');
      if (!group) throw new NotFoundError(`target group ${arns[0]} not found (simulated)`);
      return group;
    };
    return {
      health: (targetGroupArns: string[]): Promise<Map<string, TargetState>> => owner(targetGroupArns).traffic.health(targetGroupArns),
      deregister: (args: { targetGroupArns: string[]; instanceIds: string[] }) => owner(args.targetGroupArns).traffic.deregister(args),
      register: (args: { targetGroupArns: string[]; instanceIds: string[] }) => owner(args.targetGroupArns).traffic.register(args),
    };
  }
}
