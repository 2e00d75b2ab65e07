; Hearth's NSIS installer hooks (tauri.conf.json: bundle.windows.nsis.installerHooks).
;
; The Tauri NSIS template inserts these macros at fixed points of its installer.nsi:
;   NSIS_HOOK_POSTINSTALL   after the files, registry keys and shortcuts are in place
;   NSIS_HOOK_PREUNINSTALL  before the uninstaller removes anything
;
; They add, and remove again, two inbound Windows Defender Firewall rules for the
; installed hearth-desktop.exe on the *private* network profile only:
;   "Hearth (TCP 7447)"      the port a hosted room listens on (hearth::DEFAULT_PORT)
;   "Hearth mDNS (UDP 5353)" multicast DNS, so rooms are announced and found on the LAN
; netsh needs administrator rights, which is why bundle.windows.nsis.installMode is
; "perMachine" (the installer asks for elevation once). Keep the rule names in sync with
; packaging/windows/firewall.wxs (the MSI) and the README.

!define HEARTH_FW_TCP "Hearth (TCP 7447)"
!define HEARTH_FW_MDNS "Hearth mDNS (UDP 5353)"

!macro HEARTH_FIREWALL_REMOVE
  ; A missing rule makes netsh exit 1; that is fine here.
  nsExec::ExecToLog 'netsh advfirewall firewall delete rule name="${HEARTH_FW_TCP}"'
  Pop $0
  nsExec::ExecToLog 'netsh advfirewall firewall delete rule name="${HEARTH_FW_MDNS}"'
  Pop $0
!macroend

!macro NSIS_HOOK_POSTINSTALL
  DetailPrint "Allowing Hearth through Windows Defender Firewall on private networks"
  ; Reinstalls and updates run this again: remove first so the rules never double up.
  !insertmacro HEARTH_FIREWALL_REMOVE
  nsExec::ExecToLog 'netsh advfirewall firewall add rule name="${HEARTH_FW_TCP}" dir=in action=allow program="$INSTDIR\${MAINBINARYNAME}.exe" protocol=TCP localport=7447 profile=private enable=yes description="Lets people on your local network join the rooms you host in Hearth."'
  Pop $0
  ${If} $0 != 0
    DetailPrint "Could not add the firewall rule ${HEARTH_FW_TCP} (netsh exit code $0)"
  ${EndIf}
  nsExec::ExecToLog 'netsh advfirewall firewall add rule name="${HEARTH_FW_MDNS}" dir=in action=allow program="$INSTDIR\${MAINBINARYNAME}.exe" protocol=UDP localport=5353 profile=private enable=yes description="Lets Hearth find rooms on your local network and announce yours (multicast DNS)."'
  Pop $0
  ${If} $0 != 0
    DetailPrint "Could not add the firewall rule ${HEARTH_FW_MDNS} (netsh exit code $0)"
  ${EndIf}
!macroend

!macro NSIS_HOOK_PREUNINSTALL
  DetailPrint "Removing Hearth's Windows Defender Firewall rules"
  !insertmacro HEARTH_FIREWALL_REMOVE
!macroend
