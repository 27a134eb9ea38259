// The ctcd_jupyter JupyterLab extension: the CT/CD side panel (restored across reloads), a
// palette command to show it, and run detail tabs.
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, WidgetTracker } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';
import { RunDetail } from './detail';
import { MonitorView } from './monitor';
import { CtcdPanel } from './panel';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
  '<g class="jp-icon3" fill="#616161">' +
  '<path d="M12 4a8 8 0 0 1 7.75 6h-2.1A6 6 0 0 0 6.3 8.3L9 11H3V5l1.9 1.9A8 8 0 0 1 12 4z"/>' +
  '<path d="M12 20a8 8 0 0 1-7.75-6h2.1a6 6 0 0 0 11.35 1.7L15 13h6v6l-1.9-1.9A8 8 0 0 1 ' +
  '12 20z"/><circle cx="12" cy="12" r="2.2"/></g></svg>';

export const ctcdIcon = new LabIcon({ name: 'ctcd-jupyter:panel', svgstr: ICON_SVG });

namespace CommandIDs {
  export const show = 'ctcd:show-panel';
  export const openRun = 'ctcd:open-run';
  export const openMonitor = 'ctcd:open-monitor';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'ctcd-jupyter-labextension:panel',
  description: 'Services, schedules and runs of ctcd_jupyter in the left side bar',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette, IRenderMimeRegistry],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null,
             palette: ICommandPalette | null, rendermime: IRenderMimeRegistry | null) => {
    const openRun = (id: string) =>
      void app.commands.execute(CommandIDs.openRun, { id });
    const openMonitor = (name: string) =>
      void app.commands.execute(CommandIDs.openMonitor, { name });
    const panel = new CtcdPanel(openRun, openMonitor);
    panel.title.icon = ctcdIcon;
    app.shell.add(panel, 'left', { rank: 900 });
    if (restorer) {
      restorer.add(panel, 'ctcd-panel');
    }
    const details = new Map<string, RunDetail>();
    const tracker = new WidgetTracker<RunDetail>({ namespace: 'ctcd-run' });
    app.commands.addCommand(CommandIDs.show, {
      label: 'CT/CD: show panel',
      caption: 'Show the CT/CD side panel (services, schedules, runs)',
      icon: ctcdIcon,
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.openRun, {
      label: args => `CT/CD: show run ${args.id ?? ''}`,
      execute: args => {
        const id = String(args.id);
        let detail = details.get(id);
        if (!detail || detail.isDisposed) {
          detail = new RunDetail(id, () => panel.mlflowUi, openMonitor);
          detail.title.icon = ctcdIcon;
          details.set(id, detail);
          detail.disposed.connect(() => details.delete(id));
          app.shell.add(detail, 'main');
          void tracker.add(detail);
        } else {
          void detail.load();
        }
        app.shell.activateById(detail.id);
      }
    });
    const monitors = new Map<string, MonitorView>();
    const monitorTracker = new WidgetTracker<MonitorView>({ namespace: 'ctcd-monitor' });
    app.commands.addCommand(CommandIDs.openMonitor, {
      label: args => `CT/CD: monitor ${args.name ?? ''}`,
      execute: args => {
        const name = String(args.name);
        let view = monitors.get(name);
        if (!view || view.isDisposed) {
          view = new MonitorView(name, rendermime);
          view.title.icon = ctcdIcon;
          monitors.set(name, view);
          view.disposed.connect(() => monitors.delete(name));
          app.shell.add(view, 'main');
          void monitorTracker.add(view);
        } else {
          void view.load();
        }
        app.shell.activateById(view.id);
      }
    });
    if (restorer) {
      void restorer.restore(monitorTracker, {
        command: CommandIDs.openMonitor,
        args: widget => ({ name: widget.service }),
        name: widget => widget.service
      });
      // open run tabs come back after a reload too
      void restorer.restore(tracker, {
        command: CommandIDs.openRun,
        args: widget => ({ id: widget.runId }),
        name: widget => widget.runId
      });
    }
    if (palette) {
      palette.addItem({ command: CommandIDs.show, category: 'CT/CD' });
    }
  }
};

export default plugin;
