// Which side panels show. Automatic by window width; the toggles override that until the
// window crosses the breakpoint again.
export const SIDEBAR_DOCKED_FROM = 860;
export const MEMBERS_SHOWN_FROM = 1100;

/** The user's choice per panel; null follows the window width. */
export interface PanelChoice {
  sidebar: boolean | null;
  members: boolean | null;
}

export interface Layout {
  /** A narrow window shows the sidebar as a drawer over the chat. */
  sidebar: "docked" | "drawer" | "closed";
  members: boolean;
}

export const AUTO: PanelChoice = { sidebar: null, members: null };

export function layoutFor(width: number, choice: PanelChoice): Layout {
  const wide = width >= SIDEBAR_DOCKED_FROM;
  const sidebarOpen = choice.sidebar ?? wide;
  return {
    sidebar: !sidebarOpen ? "closed" : wide ? "docked" : "drawer",
    members: choice.members ?? width >= MEMBERS_SHOWN_FROM,
  };
}

/** Crossing a breakpoint returns that panel to its automatic state. */
export function resized(choice: PanelChoice, before: number, after: number): PanelChoice {
  const crossed = (at: number) => before >= at !== after >= at;
  return {
    sidebar: crossed(SIDEBAR_DOCKED_FROM) ? null : choice.sidebar,
    members: crossed(MEMBERS_SHOWN_FROM) ? null : choice.members,
  };
}

export function toggleSidebar(choice: PanelChoice, width: number): PanelChoice {
  return { ...choice, sidebar: layoutFor(width, choice).sidebar === "closed" };
}

export function toggleMembers(choice: PanelChoice, width: number): PanelChoice {
  return { ...choice, members: !layoutFor(width, choice).members };
}

/** The drawer closes (Escape, a room chosen); a docked sidebar stays. */
export function closeDrawer(choice: PanelChoice, width: number): PanelChoice {
  return layoutFor(width, choice).sidebar === "drawer" ? { ...choice, sidebar: null } : choice;
}
